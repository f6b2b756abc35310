// Startup cost: Debian's libgit2 is built over mbedTLS and, inside
// git_libgit2_init(), parses the system's whole CA bundle: 8-10 ms on every
// start of git-ml, a third of the time budget of `git ml run -- true`.
//
// git-ml never makes a TLS connection through libgit2 (a push goes through the
// user's `git`, with their credentials), so the two mbedTLS entry points that
// load certificates are answered here, in the executable, which the dynamic
// linker searches before libmbedx509. No certificate is loaded: should a future
// caller make libgit2 talk TLS, verification fails closed instead of passing.

/// Stands in for mbedTLS's `mbedtls_x509_crt_parse_file` (libgit2's CA bundle load).
@_cdecl("mbedtls_x509_crt_parse_file")
public func gitmlSkipCertificateFile(_ chain: UnsafeMutableRawPointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    LibGit2.skippedCertificateLoads += 1
    return 0
}

/// Stands in for mbedTLS's `mbedtls_x509_crt_parse_path` (libgit2's CA folder load).
@_cdecl("mbedtls_x509_crt_parse_path")
public func gitmlSkipCertificatePath(_ chain: UnsafeMutableRawPointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    LibGit2.skippedCertificateLoads += 1
    return 0
}
