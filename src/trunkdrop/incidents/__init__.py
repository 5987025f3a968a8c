"""Incidents for the operator: trunk not locked in time, car not found, command expired."""
