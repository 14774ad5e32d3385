//! Dictionary learning: the `DictionaryUpdate` rules (online block-coordinate descent, the
//! Olshausen-Field 1996 rule, MOD), the learning loop and its checkpoints.
