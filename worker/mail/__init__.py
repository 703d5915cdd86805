"""Reading mail: decoding and parsing into an `Inquiry`, and the screening rules (see docs/parsing.md)."""
