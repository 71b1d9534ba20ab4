"""torch → fold BN and α into weights → quantize → NIR (DESIGN §1)."""

from export.fold import ExportError, fold_model
from export.nir_export import EXPORTER_VERSION, ExportedModel, export_model, write_exported

__all__ = ["EXPORTER_VERSION", "ExportError", "ExportedModel", "export_model", "fold_model",
           "write_exported"]
