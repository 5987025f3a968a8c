"""Parties (customers, retailers, carriers, drivers, car makers, operators) and their API keys."""
