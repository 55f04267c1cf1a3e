//! `kitting find`: a device anywhere, by IMEI, serial number or DEP identifier.

mod common;

use common::Env;

#[test]
fn find_names_where_a_device_lives_in_profiles_and_dep_records() {
    let env = Env::new();
    let csv = env.write("d.csv", "IMEI,Serial Number,Manufacturer\n490154203237518,,\n,R58M12ABC,Samsung\n");
    env.ok(&["import", csv.to_str().unwrap(), "--profile", "Dock 3", "--create"]);
    let dep = env.write("dep.csv", "Identifier,Code,OS,Serial,DEPMethod\nDEVICE01,ABC123,ios,R58M12ABC,Serial\n");
    env.ok(&["dep", "import", dep.to_str().unwrap()]);

    // An IMEI as a scanner or a label writes it.
    let out = env.ok(&["find", "49-015420-323751-8", "--format", "csv"]);
    assert!(out.contains("profile,Dock 3,IMEI 490154203237518,IMEI,pending"), "{out}");
    // A serial: in a profile and as a DEP record's serial, case-insensitively.
    let out = env.ok(&["find", "r58m12abc", "--format", "csv"]);
    assert!(out.contains("profile,Dock 3,serial R58M12ABC (Samsung),serial number,pending"), "{out}");
    assert!(out.contains("DEP record,DEVICE01,R58M12ABC,serial"), "{out}");
    // A DEP identifier.
    let out = env.ok(&["find", "device01", "--format", "csv"]);
    assert!(out.contains("DEP record,DEVICE01,R58M12ABC,identifier"), "{out}");
    // Nowhere: exit 1, saying so.
    let (code, _, err) = env.run(&["find", "352099001761481"]);
    assert_eq!(code, 1);
    assert!(err.contains("no device with \"352099001761481\" in any profile or DEP record"), "{err}");
}
