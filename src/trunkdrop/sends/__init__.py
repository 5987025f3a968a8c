"""Sends from the car: postage bought from the carrier's price list, a label, a pickup."""
