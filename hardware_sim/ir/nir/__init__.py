"""NIR files ⇄ QGraph: the one reader every backend starts from, and its writer (DESIGN §4).

Layout written for a population P fed by projections k = 0, 1, …:

    source ─► P_in{k}_delay ─► P_in{k}_pool ─► P_in{k}_flatten ─► P_in{k}_weight ─► P
             (Delay, if any)  (SumPool2d)      (Flatten)          (Affine | Conv2d)  (LIF | I)

Float parameters describe the quantized model (forward Euler, dt = 1):
τ = 1/(1 − β), r = g/(1 − β), v_leak = v_reset = 0, v_threshold = θ, weights and
biases dequantized; a readout is an ``I`` node (r = 1). The integer truth rides
in ``metadata["dalif"]``. The reader takes the topology from the edges (nir.read
returns nodes alphabetically), walks back from every neuron node to its sources,
and uses the integer metadata when present; a foreign file (no metadata) is
quantized from its float parameters, read with its producer's units and conventions
(``conventions``: recognised, or ``--dt``/``--reset``), nested subgraphs flattened
(``load``) and recurrent edges given one step of delay (``read``); what it was taken to
mean is ``DeployedModel.reading`` (docs/foreign-nir.md).

Reading is budgeted (DESIGN §7): ``hdf5.BudgetedHDF5`` checks the file's links, storage
kinds, dtypes and declared sizes against ``ReadLimits`` before reading a byte of data, and
``load`` reads only what the graph uses (``read.py`` then checks every value where it enters).
"""

from hardware_sim.ir.nir.format import (
    DEFAULT_LIMITS,
    FOREIGN_INPUT_SCALE,
    FORMAT_NAME,
    FORMAT_VERSION,
    NAMESPACE,
    NIRFormatError,
    ReadLimits,
)
from hardware_sim.ir.nir.read import read_nir, read_nir_info
from hardware_sim.ir.nir.write import write_nir

__all__ = ["DEFAULT_LIMITS", "FOREIGN_INPUT_SCALE", "FORMAT_NAME", "FORMAT_VERSION", "NAMESPACE",
           "NIRFormatError", "ReadLimits", "read_nir", "read_nir_info", "write_nir"]
