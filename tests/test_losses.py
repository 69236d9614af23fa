import torch

from painterly.losses import (
    STYLE_LOSSES,
    ContentLoss,
    GramLoss,
    gram_matrix,
    tv_loss,
)


def test_gram_matrix_by_hand():
    # N=2 maps of M=2x2=4 positions.
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])
    raw = gram_matrix(f, normalize=False)
    assert torch.equal(raw, torch.tensor([[30.0, 6.0], [6.0, 2.0]]))
    assert torch.allclose(gram_matrix(f), raw / (2 * 4))


def gatys_style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """The paper's E_l, written out: 1/(4 N^2 M^2) * sum (G - A)^2 with unnormalised Grams."""
    _, n, h, w = features.shape
    return ((gram_matrix(features, normalize=False) - target_gram) ** 2).sum() / (4 * n**2 * (h * w) ** 2)


def test_gatys_normalization_by_hand():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])
    target = torch.tensor([[28.0, 6.0], [6.0, 0.0]])
    # sum (G - A)^2 = 2^2 + 2^2 = 8; 1 / (4 N^2 M^2) = 1 / (4 * 4 * 16) = 1/256
    assert torch.isclose(gatys_style_loss(f, target), torch.tensor(8 / 256))
    # and equals a quarter of the squared distance of N*M-normalised Grams
    assert torch.isclose(gatys_style_loss(f, target), ((gram_matrix(f) - target / 8) ** 2).sum() / 4)


def test_engine_gram_loss_is_gatys_e_l_over_target_norm():
    """The module the engine uses equals 4 E_l / ||A/(NM)||^2 on random maps: the paper's loss, rescaled."""
    torch.manual_seed(0)
    features, style = torch.rand(1, 5, 6, 7), torch.rand(1, 5, 9, 4)
    target_raw = gram_matrix(style, normalize=False) * (6 * 7) / (9 * 4)  # A at x's M, as E_l assumes
    loss = GramLoss([GramLoss.target(style)], [1.0])
    target_norm = (gram_matrix(style) ** 2).sum()
    expected = 4 * gatys_style_loss(features, target_raw) / target_norm
    assert torch.isclose(loss(features), expected, rtol=1e-5)


def test_content_loss_relative_to_target():
    target = torch.full((1, 2, 2, 2), 2.0)
    loss = ContentLoss(target)
    assert loss(target).item() == 0
    # error 1 everywhere against a target whose mean square is 4
    assert abs(loss(target + 1).item() - 0.25) < 1e-6


def test_gram_loss_is_scale_free_across_sizes():
    torch.manual_seed(0)
    small, big = torch.rand(1, 8, 16, 16), torch.rand(1, 8, 64, 64)
    loss = GramLoss([GramLoss.target(small)], [1.0])
    # same statistics at 16x more pixels: near-zero loss, not 16x larger
    assert loss(big).item() < 0.01


def test_each_style_loss_decreases_its_objective():
    torch.manual_seed(0)
    target = torch.rand(1, 4, 12, 12) * 3
    for name, cls in STYLE_LOSSES.items():
        x = torch.rand(1, 4, 12, 12, requires_grad=True)
        loss = cls([cls.target(target)], [1.0])
        opt = torch.optim.Adam([x], lr=0.05)
        first = loss(x).item()
        for _ in range(150):
            opt.zero_grad()
            value = loss(x)
            value.backward()
            opt.step()
        assert loss(x).item() < 0.3 * first, name


def test_blended_targets_pull_between_styles():
    a, b = torch.zeros(1, 2, 4, 4), torch.ones(1, 2, 4, 4)
    loss = GramLoss([GramLoss.target(a), GramLoss.target(b)], [0.5, 0.5])
    middle = torch.full((1, 2, 4, 4), 0.5**0.5)
    assert loss(middle) < loss(b) and loss(middle) < loss(a + 0.01)


def test_masked_gram_ignores_outside_region():
    """What the mask means: pixels outside the region change neither the loss nor its gradient."""
    torch.manual_seed(0)
    target, x = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1
    loss = GramLoss([GramLoss.target(target)], [1.0], mask=mask)
    changed = x.clone()
    changed[..., 4:] = torch.rand(1, 3, 8, 4) * 100  # outside the region
    assert torch.equal(loss(changed), loss(x)) and float(loss(x)) > 0
    x.requires_grad_(True)
    loss(x).backward()
    assert torch.all(x.grad[..., 4:] == 0) and x.grad[..., :4].abs().sum() > 0
    inside = x.detach().clone()
    inside[..., :4] += 0.5  # inside it does change
    assert not torch.equal(loss(inside), loss(x.detach()))


def test_tv_loss():
    flat = torch.ones(1, 3, 4, 4)
    assert tv_loss(flat).item() == 0
    checker = torch.zeros(1, 1, 2, 2)
    checker[..., 0, 0] = checker[..., 1, 1] = 1
    assert tv_loss(checker).item() == 2.0


def test_gram_backward_matches_autograd_in_any_layout():
    """The Gram's one-product backward equals autograd's two-product rule, channels-last or not."""
    import torch

    from painterly.losses import gram_matrix

    for layout in (torch.contiguous_format, torch.channels_last):
        x = torch.rand(1, 5, 6, 7).contiguous(memory_format=layout).requires_grad_(True)
        weights = torch.rand(5, 5)
        (gram_matrix(x) * weights).sum().backward()
        reference = x.detach().clone().requires_grad_(True)
        flat = reference.reshape(5, 42)
        assert torch.allclose(gram_matrix(x.detach()), flat @ flat.T / 210)
        ((flat @ flat.T / 210) * weights).sum().backward()
        assert torch.allclose(x.grad, reference.grad, rtol=1e-5, atol=1e-7)
