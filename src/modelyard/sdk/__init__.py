"""The client side: what a notebook or script imports to train, deploy and predict."""
