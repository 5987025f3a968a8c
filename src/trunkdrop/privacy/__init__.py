"""A party's own data: export (GDPR art. 15, 20)."""
