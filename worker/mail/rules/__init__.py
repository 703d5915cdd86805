"""Screening rules, one module each (mail-safety sections A-C); `worker.mail.screen` chains them."""
