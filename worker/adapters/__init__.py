"""The edges that do I/O: the IMAP `Mailbox`, the SMTP `Outbox` and the Redis `Ledger`."""
