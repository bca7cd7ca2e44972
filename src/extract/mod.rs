//! Reading the tools a server defines from its source tree (tree-sitter, per language and
//! SDK style) or by asking it live over stdio. Not built yet: see issue "Tool extraction".
