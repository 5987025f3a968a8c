"""Dispatch: plan van routes that meet each parcel's car at one of the places it stands."""
