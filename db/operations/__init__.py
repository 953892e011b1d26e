"""National operations: emergency stops (確認事項 第10条) and the kiosks' reports."""
