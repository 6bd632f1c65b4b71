#!/usr/local/bin/php -f
<?php
/*
 * carp_rules.php
 *
 * Prints the pf rules that pass CARP and pfsync, as `carp-pkg rules` writes them:
 * the body of pf anchor "carp". The original package's file of the same name did
 * this job inside pfSense; on current pfSense the filter gets the same rules from
 * carp.inc's carp_generate_rules(), and this script stays for manual use:
 *
 *   php /usr/local/pkg/pf/carp_rules.php | pfctl -a carp -f -
 *   php /usr/local/pkg/pf/carp_rules.php --json
 *   php /usr/local/pkg/pf/carp_rules.php --anchor-line
 *
 * Licensed under the BSD 2-clause license.
 */

if (PHP_SAPI !== 'cli' || !isset($_SERVER['SCRIPT_FILENAME']) || !is_string($_SERVER['SCRIPT_FILENAME']) ||
    realpath($_SERVER['SCRIPT_FILENAME']) !== __FILE__) {
	return; /* included from somewhere else (a page, or PHP code run from the shell): print nothing into it */
}

require_once("carp.inc");

$carp_rules_options = array('--json', '--anchor-line');
$carp_rules_args = array('rules');
$carp_rules_argv = (isset($_SERVER['argv']) && is_array($_SERVER['argv'])) ? $_SERVER['argv'] : array();
foreach (array_slice($carp_rules_argv, 1) as $carp_rules_arg) {
	if (!is_string($carp_rules_arg) || !in_array($carp_rules_arg, $carp_rules_options, true)) {
		fwrite(STDERR, "usage: carp_rules.php [--json | --anchor-line]\n");
		exit(2);
	}
	$carp_rules_args[] = $carp_rules_arg;
}

$carp_rules_result = carp_pkg_run($carp_rules_args);
fwrite(STDOUT, $carp_rules_result['stdout']);
fwrite(STDERR, $carp_rules_result['stderr']);
exit($carp_rules_result['rc']);
