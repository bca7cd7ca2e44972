//! Live introspection over stdio with the rmcp client (issue 8).
