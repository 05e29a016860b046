"""Models in plain PyTorch: LeNet, WRN and its candidate blocks, the NB201 cell network."""
