"""A small knowledge base, written for the tests, and paraphrases of each article's problem."""

from __future__ import annotations

ARTICLES: dict[str, tuple[str, str, str]] = {
    "password": ("Reset your password with self-service",
                 "If you forgot your password, open the self-service portal, choose Forgot "
                 "password, confirm the code sent to your phone and pick a new password of "
                 "at least 12 characters.", "access"),
    "lockout": ("Account locked after too many sign-in attempts",
                "After five failed sign-in attempts the account locks for 15 minutes. Wait, "
                "or ask the service desk to unlock it; then sign in with the right password.",
                "access"),
    "mfa": ("Set up multi-factor authentication on a new phone",
            "Install the authenticator app on the new phone, scan the QR code shown on the "
            "security page and confirm with the one-time code.", "access"),
    "vpn": ("VPN disconnects every few minutes",
            "Renew the VPN profile: remove the old profile, download the new one from the "
            "portal and reconnect. Check that power saving does not turn off the network "
            "adapter.", "network"),
    "wifi": ("Office Wi-Fi does not connect",
             "Forget the office network on your device, reconnect with your corporate "
             "credentials and accept the certificate.", "network"),
    "printer": ("Printer jams or prints blank pages",
                "Open the front tray, remove jammed paper, check the toner cartridge and "
                "print a test page from the printer menu.", "hardware"),
    "outlook": ("Outlook does not receive new email",
                "Check the connection status in Outlook, restart it in safe mode and rebuild "
                "the offline mailbox cache if new mail still does not arrive.", "software"),
    "slow": ("Laptop is slow after start-up",
             "Let updates finish, disable start-up apps you do not need, and restart; if the "
             "disk is nearly full, clean up temporary files.", "hardware"),
    "install": ("Install approved software from the company portal",
                "Open the company portal, search the catalogue for the application and click "
                "Install; software outside the catalogue needs a request.", "software"),
    "invoice": ("Download a copy of your invoice",
                "Invoices are under Billing in your account; choose the month and download "
                "the PDF.", "software"),
}

PARAPHRASES: dict[str, list[str]] = {
    "password": ["I forgot my password and can't get in",
                 "how do I change my passcode, I don't remember it"],
    "lockout": ["my account is locked, too many failed logins",
                "I'm locked out after typing the wrong password several times"],
    "mfa": ["got a new phone, need to move my 2FA authenticator",
            "verification code app on my new mobile"],
    "vpn": ["remote access keeps dropping my connection",
            "the VPN connection is lost all the time when working from home"],
    "wifi": ["can't join the wireless network in the office",
             "wifi at work won't connect on my laptop"],
    "printer": ["paper stuck in the printer on floor 3",
                "printing gives me empty pages"],
    "outlook": ["no new mails arriving in my inbox",
                "my mailbox stopped getting messages"],
    "slow": ["my notebook takes forever after I turn it on",
             "computer very sluggish when starting"],
    "install": ["how can I set up an approved application",
                "where do I get software installed from the catalogue"],
    "invoice": ["where can I find my bill for last month",
                "need a receipt PDF of my billing"],
}
