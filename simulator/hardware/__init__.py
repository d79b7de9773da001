"""Accelerators and their compute: datasheet catalog, calibration constants, time predictors."""

from .catalog import Accelerator, Calibration, catalog_names, load_accelerator, load_calibration
from .compute import RooflinePredictor

__all__ = ["Accelerator", "Calibration", "RooflinePredictor", "catalog_names", "load_accelerator",
           "load_calibration"]
