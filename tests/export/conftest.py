import pytest
import torch

from dalif.models import ModelConfig, build_model


def trained_like(model_kind: str, granularity: str, seed: int = 0, bias=(-0.2, 0.5), **config):
    """A model with non-trivial BN statistics and affine parameters (as training leaves them).

    ``config`` adds ModelConfig fields (width, depth, ...); ``bias`` is the range BN's β is
    drawn from (deep nets need a positive one to keep every layer firing)."""
    config = ModelConfig(model=model_kind, input_shape=(1, 8, 8), num_classes=10, timesteps=4,
                         granularity=granularity, input_scale=1 / 16, seed=seed, **config)
    model = build_model(config)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 17, (64, 1, 8, 8), generator=gen).float() / 16
    model.train()
    with torch.no_grad():
        model(x)
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.weight.uniform_(0.5, 2.0, generator=gen)
                module.bias.uniform_(*bias, generator=gen)
    model.eval()
    return model, x


@pytest.fixture
def make_model():
    return trained_like
