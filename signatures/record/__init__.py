"""The sealed record: building, sealing, verifying and renewing it (docs/record.md)."""
