"""Returns: a shop authorises one, the customer books its pickup from the trunk."""
