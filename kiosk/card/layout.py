"""Where things live on the My Number card: applications, files and fixed encodings.

From FORMATS §4 (jpki/myna, OpenSC ``card-jpki.c``, AokiApp/jsapdu). Both the
emulator and the card routine take their identifiers from here, so a typo cannot
make them agree with each other and disagree with a real card.
"""

from __future__ import annotations

#: 公的個人認証 AP — JPKI (public individual authentication).
JPKI_AID = bytes.fromhex("D392F000260100000001")
#: 券面事項入力補助 AP — card-info input support.
INPUT_SUPPORT_AID = bytes.fromhex("D3921000310001010408")

# JPKI AP files.
JPKI_AUTH_CERTIFICATE = 0x000A  # 利用者証明用電子証明書 (user authentication certificate)
JPKI_AUTH_CA_CERTIFICATE = 0x000B
JPKI_AUTH_KEY = 0x0017
JPKI_AUTH_PIN = 0x0018

# Input support AP files.
INPUT_SUPPORT_PIN = 0x0011
INPUT_SUPPORT_MY_NUMBER = 0x0001
INPUT_SUPPORT_BASIC4 = 0x0002
INPUT_SUPPORT_SIGNATURE = 0x0003

#: Both PINs the kiosk uses are 4 digits with 3 tries.
PIN_LENGTH = 4
PIN_MAX_TRIES = 3

#: DER prefix of a SHA-256 DigestInfo; the 32-byte digest follows.
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300D060960864801650304020105000420")

# Tags of the input support AP's text files (private class, so BER writes them FF xx / DF xx).
TAG_MY_NUMBER = 0xFF10
TAG_BASIC4 = 0xFF20
TAG_BASIC4_OFFSETS = 0xDF21
TAG_BASIC4_NAME = 0xDF22
TAG_BASIC4_ADDRESS = 0xDF23
TAG_BASIC4_BIRTH_DATE = 0xDF24
TAG_BASIC4_SEX = 0xDF25
TAG_SIGNATURE = 0xFF30
TAG_SIGNATURE_MY_NUMBER_HASH = 0xDF31
TAG_SIGNATURE_BASIC4_HASH = 0xDF32
TAG_SIGNATURE_VALUE = 0xDF33
