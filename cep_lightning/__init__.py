"""CEP / QGPO offline RL with energy-guided diffusion, in PyTorch Lightning."""
