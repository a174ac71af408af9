"""verigator_nb: explore the Verigator two-factor API from notebooks and report how verification works."""
