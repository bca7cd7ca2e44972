//! The policy model, generation from classifications, validation, and the one decision
//! engine that both `policy explain` and the gateway use. Not built yet: see issue "Policies".
