"""foleycache: AI Foley for uploaded videos, served through a cache that never pays the GPU twice."""
