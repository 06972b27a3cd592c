"""foleycache: AI Foley for uploaded videos, through a cache that never pays the GPU twice."""
