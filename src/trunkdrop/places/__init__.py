"""Places where a customer's car stands (home, office, gym), saved by the customer."""
