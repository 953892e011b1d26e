"""Venue tablets registered by the municipal admin (会場端末の登録)."""
