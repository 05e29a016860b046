"""The LeNet solver is the paper's (CLAIMS.md paper C): Caffe SGD, momentum 0.9, weight decay
5e-4, bias lr multiplier 2 (Caffe's LeNet example), lr policy "inv" with gamma 0.001, power
0.75, evaluated at the iteration being taken (0 first); mini-batches read in stored order.
Checked on real MNIST by replaying two training steps by hand."""

import torch
import torch.nn.functional as F

from nasrepro.train.lenet_loop import Case, StackedTrainer, sequential_batch

# the paper's solver, written here independently of the code under test
MOMENTUM, WEIGHT_DECAY, BIAS_LR_MULT, GAMMA, POWER = 0.9, 5e-4, 2.0, 0.001, 0.75


def _grads(trainer: StackedTrainer) -> list[torch.Tensor]:
    """The gradients the trainer's next step will use (same batch, same forward)."""
    x, y = sequential_batch(trainer.images, trainer.labels, trainer.iteration,
                            trainer.cases[0].batch)
    logits = trainer.model(x)
    k = trainer.model.k
    F.cross_entropy(logits.reshape(-1, 10), y.repeat(k), reduction="none").view(
        k, -1).mean(1).sum().backward()
    out = [p.grad.detach().clone() for p in trainer.model.parameters()]
    trainer.model.zero_grad(set_to_none=True)
    return out


def test_two_steps_replay_the_papers_caffe_sgd(mnist_data):
    base_lrs = (0.01, 0.1)
    trainer = StackedTrainer(mnist_data, [Case(64, 128, lr) for lr in base_lrs], [0, 1])
    names = [n for n, _ in trainer.model.named_parameters()]
    velocity = [torch.zeros_like(p) for p in trainer.model.parameters()]
    for it in range(2):
        w = [p.detach().clone() for p in trainer.model.parameters()]
        g = _grads(trainer)
        lr = torch.tensor([b * (1 + GAMMA * it) ** (-POWER) for b in base_lrs],
                          dtype=torch.float64)
        for name, wi, gi, vi in zip(names, w, g, velocity, strict=True):
            mult = BIAS_LR_MULT if name.endswith("bias") else 1.0
            lr_k = (lr * mult).to(wi.dtype).reshape(-1, *([1] * (wi.dim() - 1)))
            vi.mul_(MOMENTUM).add_(lr_k * (gi + WEIGHT_DECAY * wi))
        trainer.train(1)
        # the update actually applied (Caffe's history v; w <- w - v), compared directly:
        # no cancellation, so an lr off by one iteration (7.5e-4 relative) shows
        for name, got, want, wi, p in zip(names, trainer.opt.history, velocity, w,
                                          trainer.model.parameters(), strict=True):
            err = (got - want).abs().max() / want.abs().max()
            assert err < 2e-5, (name, it, float(err))
            assert torch.allclose(wi - got, p.detach(), rtol=0, atol=1e-6), (name, it)
