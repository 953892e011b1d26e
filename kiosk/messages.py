"""What the kiosk screens say, Japanese first and English (a small catalog of its own)."""

from __future__ import annotations

LANGUAGES = ("ja", "en")

_MESSAGES: dict[str, tuple[str, str]] = {
    "title": ("新型コロナワクチン接種証明書の交付", "COVID-19 vaccination certificate"),
    "switch_language": ("English", "日本語"),
    "hours": ("サービス時間 {start}〜{end}", "Service hours {start}–{end}"),
    "start": ("はじめる", "Start"),
    "cancel": ("中止する", "Cancel"),
    "back_to_start": ("はじめに戻る", "Back to the start"),
    "step": ("手順 {n} / 6", "Step {n} of 6"),
    "unavailable": ("ただいまサービスを提供できません", "The service is not available now"),
    "kiosk.outside_hours": (
        "サービス時間外です（{start}〜{end}）。時間内にご利用ください。",
        "It is outside the service hours ({start}–{end}). Please come back within them.",
    ),
    "place_card": (
        "マイナンバーカードをカードリーダーに置いてください",
        "Place your My Number card on the card reader",
    ),
    "card_placed": ("置きました", "I have placed it"),
    "kiosk.no_card": (
        "カードが読み取れません。置き直してください。",
        "No card found. Place it again.",
    ),
    "unreadable": ("このカードは取り扱いできません", "This card cannot be used"),
    "kiosk.card_unreadable": (
        "カードを読み取れませんでした。サービス利用規約により、このカードでは交付できません。"
        "お住まいの市区町村の窓口にお問い合わせください。",
        "The card could not be read. Under the service terms it cannot be handled here."
        " Please ask at your municipal office.",
    ),
    "pin": ("暗証番号（数字4桁）を入力してください", "Enter your PIN (4 digits)"),
    "pin_note": (
        "利用者証明用電子証明書と券面事項入力補助の暗証番号（同じ4桁）です。",
        "The 4-digit PIN you set for the card's user authentication and input support.",
    ),
    "tries_left": ("残り{n}回", "{n} tries left"),
    "kiosk.pin_wrong": (
        "暗証番号が違います。残り{n}回間違えるとカードがロックされます。",
        "Wrong PIN. {n} more wrong tries lock the card.",
    ),
    "kiosk.pin_format": ("暗証番号は数字4桁です。", "The PIN is 4 digits."),
    "clear": ("訂正", "Clear"),
    "ok": ("確定", "OK"),
    "locked": ("暗証番号がロックされています", "The PIN is locked"),
    "locked_text": (
        "暗証番号を3回間違えたため、カードがロックされました。"
        "カードと本人確認書類をお持ちのうえ、お住まいの市区町村の窓口でロックの解除を申請してください。",
        "The card is locked after three wrong PINs. Please visit your municipal office"
        " with the card and an identity document to have it unlocked.",
    ),
    "choose_type": ("証明書の種類を選んでください", "Choose the certificate type"),
    "domestic": ("日本国内用", "For use in Japan"),
    "overseas": ("海外用（日本語・英語）", "For travel abroad (Japanese/English)"),
    "overseas_refused": ("海外用は交付できません", "An overseas certificate cannot be issued"),
    "card_proof.no_passport_data": (
        "海外用の証明書は、一度窓口で旅券情報を登録した後に交付できます。市区町村の窓口で申請してください。",
        "An overseas certificate can be issued here only after your passport data has been"
        " registered once at a municipal counter.",
    ),
    "fee": ("交付手数料", "Fee"),
    "fee_line": ("{name}　1通 {fee}円", "{name}: 1 copy, {fee} yen"),
    "fee_total": ("合計 {total}円（税込）", "Total {total} yen (tax included)"),
    "fee_choose": (
        "購入する市区町村を選んでください。各市区町村の記録上の氏名をご確認ください。",
        "Choose the municipalities to buy from. Check your name as each one records it.",
    ),
    "record_name": ("記録上の氏名：{name}", "Name on record: {name}"),
    "name_differs": (
        "カードの氏名と異なります（婚姻・通称など）。ご本人の記録か確認してください。",
        "Differs from the name on your card (marriage, alias…). Check it is your record.",
    ),
    "chosen": ("購入する", "Buying"),
    "not_chosen": ("購入しない", "Not buying"),
    "toggle": ("選択を切り替える", "Change"),
    "kiosk.none_chosen": (
        "購入する市区町村を1つ以上選んでください。",
        "Choose at least one municipality.",
    ),
    "not_offered": ("交付できない市区町村", "Municipalities that cannot issue here"),
    "offer.not_taking_part": (
        "{name}：キオスク（コンビニ交付）に参加していません。{name}の窓口で申請してください。",
        "{name}: does not issue at kiosks. Please apply at the counter of {name}.",
    ),
    "offer.outside_hours": (
        "{name}：キオスク交付の時間外です。時間内に改めてご利用ください。",
        "{name}: outside its kiosk hours. Please come back within them.",
    ),
    "offer.identity_mismatch": (
        "{name}：カードの生年月日が記録と一致しません。{name}にお問い合わせください。{contact}",
        "{name}: the birth date on your card does not match its record. Please contact"
        " {name}. {contact}",
    ),
    "offer.no_passport_data": (
        "{name}：旅券情報が登録されていないため海外用を交付できません。{name}の窓口で申請してください。",
        "{name}: no passport data registered, so no overseas certificate. Please apply at the"
        " counter of {name}.",
    ),
    "pay": ("支払う", "Pay"),
    "payment.declined": ("お支払いができませんでした。", "The payment did not go through."),
    "print_failed": ("印刷できませんでした", "Printing failed"),
    "printer.failed": (
        "プリンターの不具合で印刷できませんでした。もう一度印刷するか、返金を選んでください。",
        "The printer failed. Print again, or have the fee refunded.",
    ),
    "reprint": ("もう一度印刷する", "Print again"),
    "refund": ("返金する", "Refund"),
    "refunded": ("返金しました", "The fee was refunded"),
    "refunded_text": (
        "手数料を返金しました。カードをお取りください。",
        "The fee has been refunded. Please take your card.",
    ),
    "done": ("交付が完了しました", "The certificate has been issued"),
    "take_card_and_papers": (
        "カードと証明書・領収書をお取り忘れのないようご注意ください。",
        "Do not forget your card, the certificate(s) and the receipt.",
    ),
    "finish": ("終了", "Finish"),
    "aborted": ("取引を中止しました", "The transaction was cancelled"),
    "aborted_text": (
        "カードが取り外されたため中止しました。料金はかかっていません。",
        "The card was removed, so the transaction stopped. Nothing was charged.",
    ),
    "server_error": ("交付できませんでした", "The certificate could not be issued"),
    "server.unreachable": (
        "交付システムに接続できません。料金はかかっていません。しばらくしてからご利用ください。",
        "The issuing system cannot be reached. Nothing was charged. Please try later.",
    ),
    "server.refused": (
        "交付できませんでした。料金はかかっていません。",
        "Not issued. Nothing charged.",
    ),
    "card_proof.no_records": (
        "接種記録が見つかりませんでした。市区町村の窓口にお問い合わせください。",
        "No vaccination records were found. Please ask at your municipal office.",
    ),
    "card_proof.kiosk_not_offered": (
        "お住まいの市区町村は、現在キオスクでの交付を行っていないか交付時間外です。",
        "Your municipality does not issue at kiosks now, or it is outside its hours.",
    ),
    "card_proof.revoked": (
        "このカードの電子証明書は失効しています。",
        "The card's certificate is revoked.",
    ),
    "card_proof.expired": (
        "このカードの電子証明書は有効期限切れです。",
        "The card's certificate expired.",
    ),
    "card_proof.not_linked": ("カードを確認できませんでした。", "The card could not be confirmed."),
    "kiosk.suspended": (
        "国の判断により、コンビニでの証明書交付を全国で一時停止しています。料金はかかっていません。{notice}",
        "Certificate issuance at kiosks is suspended nationwide by the national government."
        " Nothing was charged. {notice}",
    ),
    "kiosk.out_of_service": (
        "この端末は保守のため休止中です。",
        "This kiosk is out of service for maintenance.",
    ),
    "kiosk.reader_fault": (
        "カードリーダーに不具合があります。係員にお知らせください。料金はかかっていません。",
        "The card reader has a fault. Please tell the staff. Nothing was charged.",
    ),
    "demo.title": ("デモ用カード", "Demo cards"),
    "demo.note": (
        "デモモードです。カードリーダーの代わりに、置くカードを選んでください。",
        "Demo mode: choose a card to place instead of using a card reader.",
    ),
    "demo.place": (
        "{name} のカードを置く（暗証番号 {pin}）",
        "Place the card of {name} (PIN {pin})",
    ),
    "maintenance.title": ("保守モード", "Maintenance"),
    "maintenance.secret": ("保守用パスワード", "Maintenance secret"),
    "maintenance.sign_in": ("保守モードに入る", "Sign in"),
    "maintenance.sign_out": ("保守モードを終わる", "Sign out"),
    "maintenance.not_configured": (
        "保守用パスワードが設定されていません（VRS_KIOSK_MAINTENANCE_HASH）。",
        "No maintenance secret is configured (VRS_KIOSK_MAINTENANCE_HASH).",
    ),
    "maintenance.wrong_secret": ("保守用パスワードが違います。", "Wrong maintenance secret."),
    "maintenance.locked": (
        "続けて間違えたため、5分間保守モードに入れません。",
        "Too many wrong secrets: maintenance sign-in is closed for 5 minutes.",
    ),
    "maintenance.service": ("サービス", "Service"),
    "maintenance.in_service": ("サービス提供中", "In service"),
    "maintenance.out_of_service": (
        "休止中（開始画面に休止中と表示）",
        "Out of service (the start screen says so)",
    ),
    "maintenance.take_out_of_service": ("休止する", "Take out of service"),
    "maintenance.back_in_service": ("サービスを再開する", "Back in service"),
    "maintenance.suspended": ("国が全国で交付を停止中: {notice}", "Suspended nationwide: {notice}"),
    "maintenance.devices": ("機器の状態", "Devices"),
    "maintenance.device.reader": ("カードリーダー", "Card reader"),
    "maintenance.device.printer": ("プリンター", "Printer"),
    "maintenance.device.payment": ("決済機", "Payment"),
    "maintenance.device_state.ok": ("正常", "OK"),
    "maintenance.device_state.fault": ("障害", "Fault"),
    "maintenance.device_state.unknown": ("不明", "Unknown"),
    "maintenance.server.ok": ("交付システムに接続できています", "The server is reachable"),
    "maintenance.server.unreachable": (
        "交付システムに接続できません",
        "The server cannot be reached",
    ),
    "maintenance.server.unknown": (
        "交付システムとはまだ通信していません",
        "No contact with the server yet",
    ),
    "maintenance.test_print": ("テスト印刷", "Test print"),
    "maintenance.notices": ("未送信の交付完了通知", "Completion notices not yet sent"),
    "maintenance.notice_line": ("証明書 {count} 通", "{count} certificate(s)"),
    "maintenance.no_notices": ("未送信の通知はありません。", "No notice is waiting."),
    "maintenance.faults_pending": (
        "未送信の障害報告 {count} 件",
        "{count} fault report(s) not yet sent",
    ),
    "maintenance.sync": ("今すぐ送信する", "Send now"),
    "maintenance.done.test_print_ok": ("テスト印刷しました。", "Test page printed."),
    "maintenance.done.test_print_failed": (
        "テスト印刷に失敗しました。障害として報告します。",
        "The test print failed; it is reported as a fault.",
    ),
    "maintenance.done.out_of_service": ("休止にしました。", "The kiosk is out of service."),
    "maintenance.done.in_service": ("サービスを再開しました。", "The kiosk is back in service."),
    "maintenance.done.synced": ("送信しました。", "Sent."),
}


def message(key: str, language: str, **params: object) -> str:
    """The text for ``key`` (falling back to the generic server refusal)."""
    ja, en = _MESSAGES.get(key) or _MESSAGES["server.refused"]
    text = en if language == "en" else ja
    return text.format(**params) if params else text


def keys() -> set[str]:
    """Every key of the catalog (tests check the screens use only these)."""
    return set(_MESSAGES)
