// Mozilla User Preferences
// Tor Browser\Browser\TorBrowser\Data\Browser\profile.default\prefs.js
user_pref("app.update.lastUpdateTime.background-update-timer", 1730190000);
user_pref("browser.startup.homepage_override.torbrowser.version", "14.0.1");
user_pref("extensions.torlauncher.prompt_at_startup", false);
user_pref("torbrowser.settings.bridges.enabled", true);
user_pref("torbrowser.settings.bridges.source", 0);
user_pref("torbrowser.settings.bridges.builtin_type", "obfs4");
user_pref("torbrowser.settings.enabled", true);
