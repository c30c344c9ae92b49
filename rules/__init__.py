"""The rule engine and its rules; see rules/README.md."""
