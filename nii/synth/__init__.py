"""Physics-based synthetic dual-energy X-ray parcels with CN23-style declarations."""
