"""The dashboard driven in a real browser (Playwright), as staff use it."""
