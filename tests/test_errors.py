"""Bad input through the public API: each a gnncc error whose message names the problem."""

import pytest
import torch
from torch import nn
from torch_geometric.nn import FeaStConv, GCNConv

import gnncc
from gnncc import GraphError, InputError, TargetError, UnsupportedError


class Net(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, x, edge_index):
        return self.conv(x, edge_index)


EDGES = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])


@pytest.fixture(scope="module")
def compiled():
    return gnncc.compile(Net(GCNConv(6, 3)).eval(), EDGES, target="cpu")


def test_wrong_feature_width(compiled):
    with pytest.raises(InputError, match="compiled for 6 input features, x has 5"):
        compiled(torch.randn(4, 5))


def test_wrong_dtype(compiled):
    with pytest.raises(InputError, match="must be float32, got float64; convert with x.float()"):
        compiled(torch.randn(4, 6, dtype=torch.float64))


def test_wrong_node_count(compiled):
    with pytest.raises(InputError, match="the graph has 4 nodes, x has 9 rows"):
        compiled(torch.randn(9, 6))


def test_out_of_range_index():
    with pytest.raises(GraphError, match="node id 9 .* out of range for num_nodes=4"):
        gnncc.compile(Net(GCNConv(6, 3)), gnncc.Graph(torch.tensor([[0, 9], [1, 2]]), num_nodes=4))


def test_negative_index():
    with pytest.raises(GraphError, match="negative node id -2"):
        gnncc.compile(Net(GCNConv(6, 3)), torch.tensor([[0, -2], [1, 2]]))


def test_empty_edge_list_without_node_count():
    with pytest.raises(GraphError, match="edge_index is empty and num_nodes was not given"):
        gnncc.compile(Net(GCNConv(6, 3)), torch.zeros(2, 0, dtype=torch.long))


def test_float_edge_index():
    with pytest.raises(GraphError, match="integer node ids, got dtype float32"):
        gnncc.compile(Net(GCNConv(6, 3)), EDGES.float())


def test_unsupported_layer_is_named():
    with pytest.raises(UnsupportedError, match=r"conv.*FeaStConv.*(unsupported|not supported)"):
        gnncc.compile(Net(FeaStConv(6, 3)), EDGES)


def test_unsupported_torch_op_is_named():
    class Weird(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = GCNConv(6, 3)

        def forward(self, x, edge_index):
            return torch.fft.fft(self.conv(x, edge_index)).real

    with pytest.raises(UnsupportedError, match="fft"):
        gnncc.compile(Weird(), EDGES)


def test_cuda_target_without_gpu_is_clear():
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(TargetError, match="needs a CUDA GPU"):
        gnncc.compile(Net(GCNConv(6, 3)), EDGES, target="cuda")


def test_unknown_target():
    with pytest.raises(TargetError, match="unknown target 'tpu'"):
        gnncc.compile(Net(GCNConv(6, 3)), EDGES, target="tpu")
