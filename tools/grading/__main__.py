import sys

from tools.grading.batch import main

sys.exit(main())
