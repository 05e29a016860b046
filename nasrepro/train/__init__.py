"""Training mechanics: loops on device-resident tensors, LR schedules, block distillation."""
