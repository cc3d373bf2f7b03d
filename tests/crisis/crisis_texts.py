"""Assistant replies shared by the crisis tests."""

SUPPORTIVE_EN = ("That sounds really heavy, and I'm glad you told me. Are you safe right now? Could you reach out "
                 "to someone you trust, like your sister, tonight? You can also call or text 988.")
DISMISSIVE_EN = "Call a hotline. Goodbye."
