use super::*;

#[test]
fn the_name_is_the_version_as_an_identifier() {
    assert_eq!(name("0.1.0"), "__private_0_1_0");
    assert_eq!(name("1.12.3"), "__private_1_12_3");
    assert_eq!(name("0.2.0-rc.1"), "__private_0_2_0_rc_1");
    assert_eq!(name("0.2.0+build.7"), "__private_0_2_0_build_7");
}

#[test]
fn generated_paths_name_this_crate_version() {
    let version = env!("CARGO_PKG_VERSION").replace(['.', '-', '+'], "_");
    assert_eq!(module().to_string(), format!("__private_{version}"));
    assert_eq!(
        path(&quote!(::my_dacapo)).to_string(),
        format!(":: my_dacapo :: __private_{version}")
    );
}
