"""nii: non-intrusive-inspection image triage for customs."""

__version__ = "0.1.0"
