"""Proof at the trunk: a photo the driver takes once the trunk opened, kept in the blob
store and shown only to the delivery's parties."""
