"""Property tests (hypothesis) and schema fuzzing (schemathesis) of every parser and route."""
