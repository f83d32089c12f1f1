"""The paper's mathematics as plain tensor functions and networks: the VP-SDE and its samplers, guidance, the
losses and the networks. Imports nothing of the project but ``errors``: no Lightning, no config."""
