"""Baseline architectures (ConvEntion Tables 3-4): shapes, masking, and parameter counts at the
paper settings of config/paper.yaml against Table 3."""
from pathlib import Path

import pytest
import torch
import yaml

from transientrepro.baselines.models import (
    CNNRNN,
    BaselineConfigError,
    LightCurveLSTM,
    build_model,
    count_parameters,
)
from transientrepro.paper import paper_numbers

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
# Table 3 prints counts to 4 significant digits (e.g. 1.993M) and the LSTM as "60K": we accept the
# built count within 0.05% of the printed value for the image models (i.e. it rounds to the printed
# value up to the last digit) and within 2% for the light-curve LSTM ("60K" has 1-2 significant digits).
TOL = {"cnn_gru_ugriz": 5e-4, "cnn_gru_g": 5e-4, "cnn_lstm_ugriz": 5e-4, "cnn_lstm_g": 5e-4, "lstm_lightcurves": 0.02}


def _paper_arch():
    return yaml.safe_load((ROOT / "config/paper.yaml").read_text())["baselines"]["architectures"]


def test_lightcurve_lstm_shapes_and_padding_invariance():
    torch.manual_seed(0)
    m = LightCurveLSTM(16, 4, hidden=8, num_layers=2).eval()
    x = torch.randn(3, 7, 16)
    lengths = torch.tensor([7, 3, 1])
    out = m(x, lengths)
    assert out.shape == (3, 4)
    # values after `lengths` must not change the output (padding is ignored)
    x2 = x.clone()
    x2[1, 3:] = 100.0
    x2[2, 1:] = -5.0
    assert torch.allclose(m(x2, lengths), out, atol=1e-6)
    last = LightCurveLSTM(16, 4, hidden=8, pooling="last").eval()
    assert last(x, lengths).shape == (3, 4)


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
@pytest.mark.parametrize("channels", [5, 1])
def test_cnn_rnn_shapes_and_padding_invariance(rnn, channels):
    torch.manual_seed(0)
    m = CNNRNN(channels, 3, rnn=rnn, conv_channels=(4, 8), pool_after=(0,), pool=2, fc=8, hidden=6).eval()
    x = torch.randn(2, 5, channels, 12, 12)
    lengths = torch.tensor([5, 2])
    out = m(x, lengths)
    assert out.shape == (2, 3)
    x2 = x.clone()
    x2[1, 2:] = 9.0
    assert torch.allclose(m(x2, lengths), out, atol=1e-5)
    # stamp size does not change the parameter count (adaptive pooling)
    m2 = CNNRNN(channels, 3, rnn=rnn, conv_channels=(4, 8), pool_after=(0,), pool=2, fc=8, hidden=6)
    assert m2(torch.randn(1, 2, channels, 20, 20), torch.tensor([2])).shape == (1, 3)


def test_bad_inputs_raise_clear_errors():
    m = LightCurveLSTM(4, 2, hidden=4)
    with pytest.raises(BaselineConfigError, match="lengths"):
        m(torch.zeros(2, 3, 4), torch.tensor([0, 3]))
    with pytest.raises(BaselineConfigError, match=r"\(B, L, F\)"):
        m(torch.zeros(3, 4), torch.tensor([1]))
    with pytest.raises(BaselineConfigError, match="rnn must be"):
        CNNRNN(5, 4, rnn="transformer")
    with pytest.raises(BaselineConfigError, match="baselines.architectures.cnn_gru: missing key 'fc'"):
        build_model("cnn_gru", {"conv_channels": [4], "pool_after": [0], "pool": 2, "hidden": 4, "num_layers": 1, "dropout": 0.1},
                    n_classes=4, in_channels=5)
    with pytest.raises(BaselineConfigError, match="unknown architecture"):
        build_model("resnet", {}, n_classes=4)


@pytest.mark.parametrize("model", ["cnn_gru_ugriz", "cnn_gru_g", "cnn_lstm_ugriz", "cnn_lstm_g", "lstm_lightcurves"])
def test_paper_setting_parameter_counts_match_table3(model):
    arch = _paper_arch()
    table3 = paper_numbers()["convention"]["results_4class"][model]["n_params"]
    if model == "lstm_lightcurves":
        m = build_model("lstm_lightcurves", arch["lstm_lightcurves"], n_classes=4, n_features=16)
    else:
        name, bands = model.rsplit("_", 1)
        m = build_model(name, arch[name], n_classes=4, in_channels=5 if bands == "ugriz" else 1)
    n = count_parameters(m)
    assert abs(n - table3) / table3 <= TOL[model], (model, n, table3)


def test_ugriz_minus_g_matches_table3_difference():
    """Table 3: ugriz and g differ by ~1K parameters for both image models (first conv 5 vs 1 input channels)."""
    arch = _paper_arch()
    for name in ("cnn_gru", "cnn_lstm"):
        d = count_parameters(build_model(name, arch[name], 4, in_channels=5)) - count_parameters(build_model(name, arch[name], 4, in_channels=1))
        assert 500 <= d <= 1500, (name, d)
