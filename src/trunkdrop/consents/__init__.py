"""A customer's consent to a shop: OAuth 2 clients, authorisation codes and consent tokens."""
