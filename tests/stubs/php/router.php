<?php
/*
 * Test stand-in for pfSense's web server (nginx + php-fpm) under `php -S 127.0.0.1:PORT router.php`,
 * so that a real browser can load the package's pages over HTTP:
 *   /carp_status.php          the page, GET or POST, run by run_page.php
 *   anything else             404
 * Each request runs the page in a child `php run_page.php PAGE METHOD PARAMS_JSON` (the command-line
 * SAPI, as tests/test_php.py runs it): carp.inc lets CARP_PKG_BIN choose the carp-pkg executable only
 * under that SAPI, never under a web server's, so the page reaches the test's carp-pkg this way and
 * carp.inc needs no test hook. What the child prints on stderr (PHP warnings, notices) is appended to
 * the file named by CARP_TEST_PHP_ERRORS, for the test to assert there is none.
 * The page file is CARP_TEST_PAGE (default: pkgxml/carp_status.php of this repository).
 */
$carp_test_path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($carp_test_path !== '/carp_status.php') {
	http_response_code(404);
	header('Content-Type: text/plain; charset=utf-8');
	echo "404 not found\n";
	return true;
}
$carp_test_page = getenv('CARP_TEST_PAGE') ?: dirname(__DIR__, 3) . '/pkgxml/carp_status.php';
$carp_test_method = $_SERVER['REQUEST_METHOD'] === 'POST' ? 'POST' : 'GET';
$carp_test_params = $carp_test_method === 'POST' ? $_POST : $_GET;
$carp_test_command = array(
	PHP_BINARY, '-d', 'include_path=' . get_include_path(), '-d', 'display_errors=stderr', '-d', 'error_reporting=-1',
	__DIR__ . '/run_page.php', $carp_test_page, $carp_test_method, json_encode((object)$carp_test_params));
$carp_test_process = proc_open($carp_test_command, array(0 => array('file', '/dev/null', 'r'),
	1 => array('pipe', 'w'), 2 => array('pipe', 'w')), $carp_test_pipes);
$carp_test_out = stream_get_contents($carp_test_pipes[1]);
$carp_test_err = stream_get_contents($carp_test_pipes[2]);
fclose($carp_test_pipes[1]);
fclose($carp_test_pipes[2]);
$carp_test_rc = proc_close($carp_test_process);
$carp_test_log = getenv('CARP_TEST_PHP_ERRORS');
if ($carp_test_log && ($carp_test_err !== '' || $carp_test_rc !== 0)) {
	file_put_contents($carp_test_log, "exit {$carp_test_rc}: {$carp_test_err}\n", FILE_APPEND);
}
header('Content-Type: text/html; charset=utf-8');
echo $carp_test_out;
return true;
