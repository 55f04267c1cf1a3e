//! What a key can ask for. The keymap turns keys into actions; `App::update` carries them out.

/// Every action a binding can name, with the name used in `assets/keymap.toml` and its description for
/// the help overlay and the footer.
macro_rules! actions {
    ($($variant:ident => $name:literal, $short:literal, $description:literal;)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            pub const ALL: &[Action] = &[$(Action::$variant,)*];

            /// The name in the keymap file.
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// A word or two for the footer.
            pub fn short(self) -> &'static str {
                match self {
                    $(Action::$variant => $short,)*
                }
            }

            /// A sentence for the help overlay.
            pub fn description(self) -> &'static str {
                match self {
                    $(Action::$variant => $description,)*
                }
            }

            pub fn from_name(name: &str) -> Option<Action> {
                match name {
                    $($name => Some(Action::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

actions! {
    Quit => "quit", "quit", "Quit kitting (Ctrl-C always quits too)";
    Help => "help", "help", "Show or hide this help";
    Messages => "messages", "messages", "Show or hide the status line's last messages, whole";
    Back => "back", "back", "Go back, or close what is open";
    Refresh => "refresh", "reload", "Read the database again (shows changes made by others)";
    NextTab => "next_tab", "next tab", "Next tab: Profiles, DEP devices, Users, Catalog";
    PrevTab => "prev_tab", "previous tab", "Previous tab";
    Up => "up", "up", "Move up one row";
    Down => "down", "down", "Move down one row";
    PageUp => "page_up", "page up", "Move up one page";
    PageDown => "page_down", "page down", "Move down one page";
    Top => "top", "top", "Go to the first row";
    Bottom => "bottom", "bottom", "Go to the last row";
    Filter => "filter", "filter", "Filter the rows: type to narrow, Enter to keep, Esc to clear";
    Open => "open", "open", "Open the selected row: a profile's devices, a DEP device's information";
    NewProfile => "new_profile", "new", "Add a profile (the wizard: name, CSV file, token, user)";
    EditProfile => "edit_profile", "edit", "Edit the profile's name and description";
    ModifyUser => "modify_user", "user", "Modify the profile's associated user";
    Delete => "delete", "delete", "Delete (asks first, naming what goes)";
    Export => "export", "download", "Download Existing Inventory: write the devices as CSV";
    Import => "import", "import", "Import a DEP device-information CSV: checked first, then written all-or-nothing";
    AddRecord => "add_record", "add", "Add a device record";
    EditRecord => "edit_record", "edit", "Edit the device record (a checked-in or withdrawn one opens read-only)";
    Withdraw => "withdraw", "withdraw", "Withdraw the device: it can no longer check in, its record becomes read-only";
    AddEntry => "add_entry", "add", "Add an organization, template or device tag";
    EditEntry => "edit_entry", "edit", "Rename the entry or change its description (records follow a rename)";
    SortNext => "sort_next", "sort", "Sort by the next column";
    SortReverse => "sort_reverse", "reverse", "Reverse the sort order";
    Users => "users", "users", "Manage users (the Users tab)";
    ToggleSelect => "toggle_select", "select", "Select or unselect the device (for Edit and Delete)";
    SelectAll => "select_all", "all", "Select every shown device, or none if all are selected";
    AddDevices => "add_devices", "add", "Add More Devices";
    EditDevice => "edit_device", "edit", "Edit the device; with several selected, set or clear an attribute on all";
    ModifyConfig => "modify_config", "config", "Modify Configuration (vendor keys, Android extras, custom keys)";
    Qr => "qr", "QR", "Generate the provisioning QR code";
    RefreshToken => "refresh_token", "new token", "Refresh Token: issue a new token (the old one stops working)";
    ExtendToken => "extend_token", "extend", "Extend the token by 7 to 99 days";
    RevealToken => "reveal_token", "reveal", "Show or mask the enrollment token";
    Compact => "compact", "drawing", "QR code: the next drawing (an image where the terminal shows one, half blocks, compact: 2x2 modules per cell)";
    SavePng => "save_png", "PNG", "Save the QR code as a PNG file";
    SaveSvg => "save_svg", "SVG", "Save the QR code as an SVG file";
    AddUser => "add_user", "add", "Add a user";
    EditUser => "edit_user", "edit", "Edit the user (name, email, description, organizations)";
    Confirm => "confirm", "ok", "Confirm (Ctrl-s saves a form from a multi-line field)";
    WriteTemplate => "write_template", "template", "Add-profile and import forms: write the CSV template at the typed path (or in the typed folder)";
    Cancel => "cancel", "cancel", "Cancel";
    RevealSecret => "reveal_secret", "reveal", "Forms: show or mask the passwords typed (Wi-Fi password)";
    ScrollLeft => "scroll_left", "columns left", "Profile screen: show the attribute columns to the left (when they do not all fit)";
    ScrollRight => "scroll_right", "columns right", "Profile screen: show the attribute columns to the right (when they do not all fit)";
    ShowDevice => "show_device", "in full", "Profile screen: show the device under the cursor in full (every attribute, source, times)";
    Find => "find", "find", "Find a device anywhere: IMEI, serial or DEP identifier";
    CheckIn => "check_in", "check-in", "Check a device in (Android token, or DEP code)";
    SwitchKind => "switch_kind", "Android/DEP", "Check-in: switch between an Android and a DEP device";
    ScanStation => "scan_station", "scan", "Open the scan station on this profile: receive devices, or verify them (kitted)";
    UndoScan => "undo_scan", "undo", "Scan station: undo the last accepted scan";
    NextField => "next_field", "next", "Next field";
    PrevField => "prev_field", "previous", "Previous field";
}
