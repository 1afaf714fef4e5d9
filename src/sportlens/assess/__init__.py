"""Movement quality assessment (layer 5): evaluation protocols and quality models applied to tracks."""
